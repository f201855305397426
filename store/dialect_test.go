package store

import (
	"strings"
	"testing"
)

func TestParseDSN_NamesDriverAndSQLitePath(t *testing.T) {
	cases := []struct {
		dsn, driver, path string
	}{
		{"postgres://u:p@db:5432/app?sslmode=require", "postgres", ""},
		{"postgresql://db/app", "postgres", ""},
		{"PostgreSQL://db/app", "postgres", ""},
		{"sqlite://auth.db", "sqlite", "auth.db"},
		{"sqlite:///var/lib/caddy/auth.db", "sqlite", "/var/lib/caddy/auth.db"},
		{"SQLite://data/auth.db", "sqlite", "data/auth.db"},
	}
	for _, tc := range cases {
		t.Run(tc.dsn, func(t *testing.T) {
			d, err := ParseDSN(tc.dsn)
			if err != nil {
				t.Fatalf("ParseDSN: %v", err)
			}
			if d.Driver != tc.driver || d.Path != tc.path {
				t.Errorf("ParseDSN = driver %q path %q, want %q %q", d.Driver, d.Path, tc.driver, tc.path)
			}
		})
	}
}

func TestParseDSN_RejectsWithAcceptedFormsAndNoSecret(t *testing.T) {
	for _, dsn := range []string{
		"mysql://u:s3cretpw@db/app",
		"u:s3cretpw@db/app",
		"",
		"sqlite://",
		"sqlite://auth.db?mode=ro",
		"sqlite://auth.db#x",
		"postgres://u:s3cretpw@[::1:5432/app",
	} {
		t.Run(dsn, func(t *testing.T) {
			_, err := ParseDSN(dsn)
			if err == nil {
				t.Fatal("ParseDSN succeeded")
			}
			if !strings.Contains(err.Error(), acceptedForms) {
				t.Errorf("error does not name the accepted forms: %v", err)
			}
			if strings.Contains(err.Error(), "s3cretpw") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestCheckSchema(t *testing.T) {
	for v, ok := range map[string]bool{
		"": true, "auto": true, "camel": true, "snake": true,
		"Camel": false, "kebab": false, "pascal": false, " auto": false,
	} {
		err := CheckSchema(v)
		if (err == nil) != ok {
			t.Errorf("CheckSchema(%q) = %v, want ok %t", v, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "must be auto, camel or snake") {
			t.Errorf("CheckSchema(%q) = %v: does not say what is accepted", v, err)
		}
	}
}
