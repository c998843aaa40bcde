module github.com/hallmark-dev/hallmark

go 1.26.0

require (
	github.com/coreos/go-oidc/v3 v3.21.0
	github.com/go-jose/go-jose/v4 v4.1.9
	github.com/hashicorp/golang-lru/v2 v2.0.7
)

require golang.org/x/oauth2 v0.37.0 // indirect
