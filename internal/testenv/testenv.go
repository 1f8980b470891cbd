// Package testenv gives berth's own tests what they need from the machine
// besides an engine: a PostgreSQL schema of their own and a registry
// repository of their own. Without them a test skips, and in CI (CI=true)
// fails (drivertest.Require). scripts/postgres.sh and scripts/registry.sh
// start them.
package testenv

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
)

// PostgresEnv names a PostgreSQL database the tests may make schemas in:
// a URL, as scripts/postgres.sh prints it.
const PostgresEnv = "BERTH_TEST_POSTGRES"

// Postgres returns the URL PostgresEnv names (skipping tb, or failing it in
// CI, without one).
func Postgres(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		drivertest.Require(tb, "no PostgreSQL (start one with scripts/postgres.sh and set "+PostgresEnv+"=$(scripts/postgres.sh))",
			errors.New(PostgresEnv+" is not set"))
	}
	return base
}

// PostgresSchema makes a fresh schema named prefix plus a random suffix in
// the database of PostgresEnv and returns a URL whose search_path selects
// it: a store on it is a cluster of its own. At the end of tb the schema is
// dropped with the hosts' schemas made beside it (<schema>_<instance ID>).
func PostgresSchema(tb testing.TB, prefix string) string {
	tb.Helper()
	base := Postgres(tb)
	cfg, err := pgx.ParseConfig(base)
	require.NoError(tb, err, PostgresEnv)
	db := stdlib.OpenDB(*cfg)
	schema := prefix + randomID()
	_, err = db.Exec("CREATE SCHEMA " + pgx.Identifier{schema}.Sanitize())
	if err != nil {
		db.Close()
	}
	require.NoError(tb, err, "create schema")
	tb.Cleanup(func() {
		DropCluster(db, schema)
		db.Close()
	})
	u, err := url.Parse(base)
	require.NoError(tb, err, PostgresEnv)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// DropCluster drops the cluster's schema and its hosts' schemas
// (<cluster>_<instance ID>) from db.
func DropCluster(db *sql.DB, cluster string) {
	rows, err := db.Query("SELECT nspname FROM pg_namespace WHERE nspname = $1 OR starts_with(nspname, $1 || '_')", cluster)
	if err != nil {
		return
	}
	var names []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			names = append(names, n)
		}
	}
	rows.Close()
	for _, n := range names {
		db.Exec("DROP SCHEMA " + pgx.Identifier{n}.Sanitize() + " CASCADE")
	}
}

// Repository returns a repository of its own in the registry of
// drivertest.RegistryEnv ("host:port/<prefix><random>").
func Repository(tb testing.TB, prefix string) string {
	tb.Helper()
	return drivertest.Registry(tb) + "/" + prefix + randomID()
}

// manifestTypes are the manifest media types a registry is asked for.
var manifestTypes = strings.Join([]string{"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json"}, ", ")

// Manifest returns the digest of the manifest reference (a tag or a
// digest) names in repository ("host:port/path", a loopback registry over
// plain HTTP), and whether the registry has it.
func Manifest(tb testing.TB, repository, reference string) (string, bool) {
	tb.Helper()
	host, path, _ := strings.Cut(repository, "/")
	req, err := http.NewRequest(http.MethodHead, "http://"+host+"/v2/"+path+"/manifests/"+reference, nil)
	require.NoError(tb, err)
	req.Header.Set("Accept", manifestTypes)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(tb, err)
	resp.Body.Close()
	require.Contains(tb, []int{http.StatusOK, http.StatusNotFound}, resp.StatusCode, "HEAD %s:%s", repository, reference)
	return resp.Header.Get("Docker-Content-Digest"), resp.StatusCode == http.StatusOK
}

// Tags lists the tags of repository (none when the registry does not know
// it).
func Tags(tb testing.TB, repository string) []string {
	tb.Helper()
	host, path, _ := strings.Cut(repository, "/")
	resp, err := http.Get("http://" + host + "/v2/" + path + "/tags/list")
	require.NoError(tb, err)
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	require.Equal(tb, http.StatusOK, resp.StatusCode, "tags of %s", repository)
	var list struct{ Tags []string }
	require.NoError(tb, json.NewDecoder(resp.Body).Decode(&list))
	return list.Tags
}

func randomID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}
