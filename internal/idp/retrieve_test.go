package idp_test

import (
	"errors"

	"golang.org/x/oauth2"
)

func asRetrieveError(err error, target **oauth2.RetrieveError) bool { return errors.As(err, target) }
