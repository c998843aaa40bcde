// Package api holds Hallmark's HTTP and gRPC surfaces. It is the only place
// where errors become status codes.
package api
