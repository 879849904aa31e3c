// Command check loads a compose file the way `docker compose` does (compose-go: interpolation from the
// environment and .env, schema validation, normalization, consistency checks such as undefined volumes,
// networks or dependencies) and prints the resulting project as JSON, or the loader's error with exit status 1.
//
//	go -C infra/compose/check run . -f "$PWD/docker-compose.yml" [-profile NAME ...] [-env-file FILE]
//
// tests/deploy/test_compose.py runs it with every profile ("*") and with none.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var files, profiles, envFiles list
	flag.Var(&files, "f", "compose file (repeatable)")
	flag.Var(&profiles, "profile", "profile to enable (repeatable; * for all)")
	flag.Var(&envFiles, "env-file", "env file instead of .env (repeatable)")
	flag.Parse()
	if len(files) == 0 {
		files = list{"docker-compose.yml"}
	}
	opts := []cli.ProjectOptionsFn{cli.WithName("saqshy"), cli.WithOsEnv, cli.WithProfiles(profiles)}
	if len(envFiles) > 0 {
		opts = append(opts, cli.WithEnvFiles(envFiles...))
	}
	opts = append(opts, cli.WithDotEnv)
	options, err := cli.NewProjectOptions(files, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}
