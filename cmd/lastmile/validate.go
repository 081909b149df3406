package main

import (
	"context"
	"errors"
	"io"
)

func cmdValidate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}
