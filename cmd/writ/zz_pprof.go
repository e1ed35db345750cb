package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if a := os.Getenv("WRIT_PPROF_SCRATCH"); a != "" {
		go http.ListenAndServe(a, nil)
	}
}
