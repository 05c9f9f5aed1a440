package app

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// zhibo admin create registers the operator on the running node and adds its uid to the node's
// config file, which the node reads again by itself: the operator can call admin routes at once,
// and never had to know its uid.
func TestAdminCreateMakesAnOperator(t *testing.T) {
	n := startReloadNode(t, "# operators\nlog:\n  level: info # keep\n", 20*time.Millisecond)
	var out, errs bytes.Buffer
	code := Main([]string{"admin", "create", "boss", "-url", n.base, "-config", n.file}, &out, &errs)
	require.Equal(t, 0, code, errs.String())
	m := regexp.MustCompile(`created user boss, uid (\d+)\npassword \(shown once; change it after logging in\): (\S+)\n`).FindStringSubmatch(out.String())
	require.NotNil(t, m, out.String())
	uid, _ := strconv.ParseInt(m[1], 10, 64)

	file, err := os.ReadFile(n.file)
	require.NoError(t, err)
	require.Contains(t, string(file), "# operators", "the file keeps its comments")
	require.Contains(t, string(file), "level: info # keep")
	require.Regexp(t, `(?m)^admins:\n  - `+m[1]+`$`, string(file))
	require.Eventually(t, func() bool { return n.a.isAdmin(uid) }, 5*time.Second, 10*time.Millisecond, "%s", n.logs)

	code, body := n.call("POST", "/api/auth/login", "", map[string]string{"name": "boss", "password": m[2]})
	require.Equal(t, 200, code, body)
	var env struct{ Data reloadUser }
	require.NoError(t, json.Unmarshal([]byte(body), &env))
	code, body = n.call("POST", "/api/admin/config/reload", env.Data.Token, nil)
	require.Equal(t, 200, code, "an admin route answers the new operator: %s", body)

	// A second operator (flags before the name work too) is appended; the first stays.
	out.Reset()
	code = adminCmdExit([]string{"create", "-password-stdin", "-url", n.base, "-config", n.file, "nobody"}, "", &out, &errs)
	require.Equal(t, 1, code)
	require.Contains(t, errs.String(), "password from stdin: empty")
	code = adminCmdExit([]string{"create", "-url", n.base, "-config", n.file, "-password-stdin", "deputy"}, "long-enough-password\n", &out, &errs)
	require.Equal(t, 0, code, errs.String())
	require.NotContains(t, out.String(), "password (shown once", "a password the operator chose is not echoed")
	file, err = os.ReadFile(n.file)
	require.NoError(t, err)
	require.Regexp(t, `(?m)^admins:\n  - `+m[1]+`\n  - \d+$`, string(file))

	// A taken name changes nothing.
	before := string(file)
	errs.Reset()
	code = adminCmdExit([]string{"create", "boss", "-url", n.base, "-config", n.file}, "", &out, &errs)
	require.Equal(t, 1, code)
	require.Contains(t, errs.String(), "register boss")
	file, _ = os.ReadFile(n.file)
	require.Equal(t, before, string(file))

	// Without -config it prints the setting to add.
	out.Reset()
	code = adminCmdExit([]string{"create", "helper", "-url", n.base}, "", &out, &errs)
	require.Equal(t, 0, code, errs.String())
	require.True(t, strings.Contains(out.String(), "make it an operator: add "), out.String())
}

func adminCmdExit(args []string, stdin string, out, errs *bytes.Buffer) int {
	if err := adminCmd(args, strings.NewReader(stdin), out, errs); err != nil {
		errs.WriteString(err.Error())
		return 1
	}
	return 0
}

func TestAddAdminEditsOnlyTheList(t *testing.T) {
	path := t.TempDir() + "/z.yaml"
	for _, c := range []struct{ in, want string }{
		{"", "admins:\n  - 7\n"},
		{"admins: [3]\n", "admins:\n  - 3\n  - 7\n"},
		{"admins:\n", "admins:\n  - 7\n"},
		{"admins: [7]\n", "admins: [7]\n"},
	} {
		require.NoError(t, os.WriteFile(path, []byte(c.in), 0o600))
		require.NoError(t, addAdmin(path, 7), c.in)
		b, _ := os.ReadFile(path)
		require.Equal(t, c.want, string(b), c.in)
	}
	require.NoError(t, os.WriteFile(path, []byte("admins: 3\n"), 0o600))
	require.ErrorContains(t, addAdmin(path, 7), "not a list")
	require.NoError(t, os.WriteFile(path, []byte("- a\n"), 0o600))
	require.ErrorContains(t, addAdmin(path, 7), "not a YAML mapping")
}
