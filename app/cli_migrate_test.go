package app

import (
	"reflect"
	"testing"
)

func TestParseMigrateCommand(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		want    Command
		wantErr bool
	}{
		{"migrate names its target", []string{"migrate", "--to", "postgres://h@db/herald"}, Command{Name: "migrate", MigrateTo: "postgres://h@db/herald"}, false},
		{"migrate takes --config", []string{"migrate", "--config", "h.toml", "--to=postgresql://db/h"}, Command{Name: "migrate", ConfigPath: "h.toml", MigrateTo: "postgresql://db/h"}, false},
		{"migrate without --to is wrong", []string{"migrate"}, Command{}, true},
		{"migrate to something else is wrong", []string{"migrate", "--to", "mysql://db"}, Command{}, true},
		{"migrate with a stray argument is wrong", []string{"migrate", "--to", "postgres://db", "now"}, Command{}, true},
		{"--to belongs to migrate only", []string{"serve", "--to", "postgres://db"}, Command{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCommand(tc.args)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseCommand(%q) error = %v, want error %v", tc.args, err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseCommand(%q) = %+v, want %+v", tc.args, got, tc.want)
			}
		})
	}
}
