module github.com/writ-dev/writ

go 1.26.8

require golang.org/x/crypto v0.58.0

require (
	github.com/c2sp/wycheproof v0.0.0-20260902155932-3fa63dd0344a // indirect
	github.com/go-jose/go-jose/v4 v4.1.8 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/cobra v1.10.2 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
)
