package app

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

const adminUsage = `Usage: zhibo admin create NAME [-url URL] [-config FILE] [-password-stdin]

Registers the user NAME on the running node at URL (through its registration API, with its
name rules and limits) with a generated password, printed once, and makes it an operator:
with -config, the uid is added to the admins list of that YAML file — the file the node was
started with, which it reads again by itself within a second (or on SIGHUP); without it, the
command prints the uid and the setting to add. No uid has to be known beforehand.

`

// adminCmd is zhibo admin: operator bootstrap.
func adminCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, adminUsage)
		return errors.New("admin needs a sub-command: create")
	}
	fs := flag.NewFlagSet("zhibo admin create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "HTTP base of the running node (its gateway.http_addr, or the front gateway of a cluster).")
	file := fs.String("config", "", "the node's YAML config file: the new uid is added to its admins (empty = print the setting instead).")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input instead of generating one.")
	timeout := fs.Duration("timeout", 30*time.Second, "time allowed for the node to answer.")
	fs.Usage = func() { fmt.Fprint(stderr, adminUsage); fs.PrintDefaults() }
	// The name comes first: flag parsing stops at the first non-flag argument.
	rest := args[1:]
	var name string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if name == "" && fs.NArg() == 1 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if name == "" {
		return errors.New("admin create needs the new operator's NAME")
	}
	password := ""
	if *fromStdin {
		line, err := readLine(stdin)
		if err != nil {
			return fmt.Errorf("password from stdin: %w", err)
		}
		password = line
	} else {
		password = rand.Text() // 26 base32 characters, 130 bits
	}
	uid, err := registerUser(*url, name, password, *timeout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created user %s, uid %d\n", name, uid)
	if !*fromStdin {
		fmt.Fprintf(stdout, "password (shown once; change it after logging in): %s\n", password)
	}
	if *file == "" {
		fmt.Fprintf(stdout, "make it an operator: add %d to admins (admins: [%d], -admins %d or ZHIBO_ADMINS=%d), then zhibo config reload or restart\n", uid, uid, uid, uid)
		return nil
	}
	if err := addAdmin(*file, uid); err != nil {
		return fmt.Errorf("user created, but %s was not changed: %w (add %d to admins by hand)", *file, err, uid)
	}
	fmt.Fprintf(stdout, "added uid %d to admins in %s; the node applies it at its next config read (within a second, or on SIGHUP)\n", uid, *file)
	return nil
}

func readLine(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return "", errors.New("empty")
	}
	return line, nil
}

// registerUser creates the user through POST /api/auth/register and returns its uid.
func registerUser(base, name, password string, timeout time.Duration) (int64, error) {
	body, _ := json.Marshal(map[string]string{"name": name, "password": password})
	resp, err := (&http.Client{Timeout: timeout}).Post(strings.TrimRight(base, "/")+"/api/auth/register", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("register %s: %w", name, err)
	}
	defer resp.Body.Close()
	var env struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    struct {
			UID int64 `json:"uid"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&env); err != nil {
		return 0, fmt.Errorf("register %s: %s: not a zhibo answer: %w", name, resp.Status, err)
	}
	if env.Code != 0 || env.Data.UID == 0 {
		return 0, fmt.Errorf("register %s: %s: %s", name, resp.Status, env.Message)
	}
	return env.Data.UID, nil
}

// addAdmin appends uid to the admins list of the YAML file at path, keeping the rest of the
// file (comments included), and replaces the file in one rename so a node reading it never
// sees half of it.
func addAdmin(path string, uid int64) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return err
	}
	if doc.Kind == 0 { // an empty file
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return errors.New("not a YAML mapping")
	}
	root := doc.Content[0]
	item := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(uid, 10)}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "admins" {
			list = root.Content[i+1]
		}
	}
	switch {
	case list == nil:
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "admins"},
			&yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{item}})
	case list.Kind == yaml.SequenceNode:
		for _, n := range list.Content {
			if n.Value == item.Value {
				return nil // already there
			}
		}
		list.Style &^= yaml.FlowStyle
		list.Content = append(list.Content, item)
	case list.Kind == yaml.ScalarNode && (list.Tag == "!!null" || list.Value == ""):
		*list = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{item}}
	default:
		return errors.New("admins is not a list")
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out.Bytes(), info.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
