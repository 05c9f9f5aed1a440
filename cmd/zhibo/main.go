// Command zhibo is the live-streaming backend: one binary that runs every component in one
// process (zhibo up) or any subset of them (zhibo serve --components=…).
package main

import (
	"os"

	"github.com/zhibo-live/zhibo/internal/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], os.Stdout, os.Stderr))
}
