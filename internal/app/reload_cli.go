package app

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// reloadCmd is `zhibo config reload`: it asks a running node to re-read its config through
// POST /api/admin/config/reload and prints what changed, or why the node refused.
func reloadCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("zhibo config reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "HTTP base of the running node (its gateway.http_addr).")
	token := fs.String("token", "", "an admin's session token from /api/auth/login (env ZHIBO_TOKEN).")
	timeout := fs.Duration("timeout", 30*time.Second, "time allowed for the node to answer.")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: zhibo config reload [-url URL] [-token TOKEN]

Makes the node at URL read its config again (its -config file, environment and flags) and
apply the settings that can change live (the live column of docs/config.md); a config that
changes any other setting, or does not validate, is refused whole and the node keeps running
on the old one. The token must be an admin's. SIGHUP to the process does the same.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *token == "" {
		*token = getenv("ZHIBO_TOKEN")
	}
	if *token == "" {
		return errors.New("config reload needs an admin's token: -token or ZHIBO_TOKEN")
	}
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(*url, "/")+"/api/admin/config/reload", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+*token)
	resp, err := (&http.Client{Timeout: *timeout}).Do(req)
	if err != nil {
		return fmt.Errorf("config reload: %w", err)
	}
	defer resp.Body.Close()
	var env struct {
		Code    int          `json:"code"`
		Message string       `json:"message"`
		Data    ReloadResult `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&env); err != nil {
		return fmt.Errorf("config reload: %s: not a zhibo answer: %w", resp.Status, err)
	}
	if env.Code != 0 {
		return fmt.Errorf("config reload: %s: %s", resp.Status, env.Message)
	}
	if len(env.Data.Changed) == 0 {
		fmt.Fprintf(stdout, "config unchanged (hash %s)\n", env.Data.Hash)
		return nil
	}
	fmt.Fprintf(stdout, "config reloaded: %s (hash %s)\n", strings.Join(env.Data.Changed, ", "), env.Data.Hash)
	return nil
}
