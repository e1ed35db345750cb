package migrate

import (
	"testing"
	"testing/fstest"
	"time"
)

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_second.sql": {Data: []byte("SELECT 2;")},
		"m/0010_tenth.sql":  {Data: []byte("SELECT 10;")},
		"m/0001_init.sql":   {Data: []byte("SELECT 1;")},
		"m/README.md":       {Data: []byte("not a migration")},
	}
	files, err := Load(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, f := range files {
		got = append(got, f.Version)
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 10 {
		t.Fatalf("versions %v, want [1 2 10]", got)
	}
	if files[0].Name != "init" || files[0].SQL != "SELECT 1;" {
		t.Errorf("first file %+v", files[0])
	}
}

func TestLoadErrors(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"no files":      {"m/README.md": {}},
		"no underscore": {"m/0001.sql": {}},
		"no name":       {"m/0001_.sql": {}},
		"not a number":  {"m/abc_init.sql": {}},
		"zero version":  {"m/0000_init.sql": {}},
		"negative":      {"m/-1_init.sql": {}},
		"duplicate":     {"m/0001_a.sql": {}, "m/1_b.sql": {}},
		"missing dir":   {"other/0001_a.sql": {}},
	} {
		if _, err := Load(fsys, "m"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestStatusAndCheckKnown(t *testing.T) {
	files := []File{{Version: 1, Name: "init"}, {Version: 2, Name: "users"}}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	applied := []Applied{{Version: 1, Name: "init", AppliedAt: at}}
	st := Status(files, applied)
	if len(st) != 2 || !st[0].Applied || !st[0].AppliedAt.Equal(at) || st[1].Applied || st[1].Name != "users" {
		t.Errorf("Status = %+v", st)
	}
	if err := CheckKnown(files, applied); err != nil {
		t.Errorf("CheckKnown: %v", err)
	}
	newer := append(applied, Applied{Version: 3, Name: "future", AppliedAt: at})
	st = Status(files, newer)
	if len(st) != 3 || st[2].Version != 3 || st[2].Name != "" || !st[2].Applied {
		t.Errorf("Status with an unknown version = %+v", st)
	}
	if err := CheckKnown(files, newer); err == nil {
		t.Error("CheckKnown accepted an unknown version")
	}
}
