// Checks docker-compose.yml as `docker compose config` does, on machines without Docker Compose:
// compose-go is the compose-spec loader Docker Compose itself uses (schema, interpolation, references).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	file := "docker-compose.yml"
	if len(os.Args) > 1 {
		file = os.Args[1]
	}
	if err := check(file); err != nil {
		fmt.Fprintf(os.Stderr, "%s is not a valid compose file: %v\n", file, err)
		os.Exit(1)
	}
}

func check(file string) error {
	options, err := cli.NewProjectOptions([]string{file}, cli.WithOsEnv, cli.WithDotEnv, cli.WithName("push-mfa"),
		// Every profile, so the optional services are checked too.
		cli.WithProfiles([]string{"*"}))
	if err != nil {
		return err
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		return err
	}
	fmt.Printf("%s is valid: services %v\n", file, project.ServiceNames())
	return nil
}
