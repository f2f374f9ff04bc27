package app

import (
	"reflect"
	"testing"
)

func TestParseCommand(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		want    Command
		wantErr bool
	}{
		{"no arguments serve", nil, Command{Name: "serve"}, false},
		{"serve takes --config", []string{"serve", "--config", "h.toml"}, Command{Name: "serve", ConfigPath: "h.toml"}, false},
		{"a bare --config means serve", []string{"--config=h.toml"}, Command{Name: "serve", ConfigPath: "h.toml"}, false},
		{"help", []string{"help"}, Command{Name: "help"}, false},
		{"-h is help", []string{"-h"}, Command{Name: "help"}, false},
		{"--help is help", []string{"--help"}, Command{Name: "help"}, false},
		{"serve --help is help", []string{"serve", "--help"}, Command{Name: "help"}, false},
		{"version", []string{"version"}, Command{Name: "version"}, false},
		{"--version still works", []string{"--version"}, Command{Name: "version"}, false},
		{"backup names its file", []string{"backup", "/tmp/copy.db"}, Command{Name: "backup", BackupFile: "/tmp/copy.db"}, false},
		{"backup takes --config before the file", []string{"backup", "--config", "h.toml", "c.db"}, Command{Name: "backup", ConfigPath: "h.toml", BackupFile: "c.db"}, false},
		{"backup without a file is wrong", []string{"backup"}, Command{}, true},
		{"backup with two files is wrong", []string{"backup", "a", "b"}, Command{}, true},
		{"an unknown word is wrong", []string{"anything"}, Command{}, true},
		{"an unknown flag is wrong", []string{"--nope"}, Command{}, true},
		{"serve with a stray argument is wrong", []string{"serve", "now"}, Command{}, true},
		{"help with an argument is wrong", []string{"help", "me"}, Command{}, true},
		{"--config without a value is wrong", []string{"--config"}, Command{}, true},
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
