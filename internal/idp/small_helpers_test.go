package idp_test

import (
	"crypto/sha1"
	"hash"
	"sort"
	"strconv"
)

func sha1New() hash.Hash { return sha1.New() }

func sortStrings(s []string) []string {
	sort.Strings(s)
	return s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
