// Package readme holds no code: its test compiles every Go code block of
// the repository's README.md, so that a snippet which stops compiling
// fails `go test ./...`. The rules a block must follow are written at the
// top of readme_test.go. Another test checks that every exported name of
// the library packages has a doc comment.
package readme
