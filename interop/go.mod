module github.com/hallmark-dev/hallmark/interop

go 1.26

require github.com/hallmark-dev/hallmark v0.0.0

replace github.com/hallmark-dev/hallmark => ../
