package policies

import (
	"fmt"
	"strings"
	"testing"
)

func TestODataVersion(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" when refused
	}{
		{"4.0", "4.0"}, {"4.01", "4.01"}, {"4.00", "4.0"}, {"3.0", "3.0"}, {"4.1", "4.1"}, {"10.2", "10.2"},
		{"4", ""}, {"4.", ""}, {".1", ""}, {"4.0.1", ""}, {"v4.0", ""}, {"4.0 ", ""}, {"+4.0", ""}, {"4.-1", ""}, {"12345.0", ""}, {"4.00001", ""},
	}
	for _, tt := range tests {
		v, ok := parseODataVersion(tt.in)
		if got := v.String(); ok != (tt.want != "") || ok && got != tt.want {
			t.Errorf("parseODataVersion(%q) = %s, %t; want %q", tt.in, got, ok, tt.want)
		}
	}
	if !(odata40 < odata401) || mustVersion(t, "4.01") >= mustVersion(t, "4.1") || mustVersion(t, "3.0") >= odata40 {
		t.Error("versions do not order as decimals")
	}
}

func mustVersion(t *testing.T, s string) odataVersion {
	v, ok := parseODataVersion(s)
	if !ok {
		t.Fatalf("%q", s)
	}
	return v
}

// TestCheckODataQuery: each system query option's rule, in OData 4.0 and
// 4.01. The same checks through the gateway are in internal/server's
// TestValidateODataRequest.
func TestCheckODataQuery(t *testing.T) {
	tests := []struct {
		query string
		v401  bool
		want  string // the first finding's details; "" for none
	}{
		{"$filter=Name%20eq%20'Milk'&$top=10&$select=Name,Price", false, ""},
		{"$top=0&$skip=20&$count=true&$format=json&$search=blue%20OR%20green&$orderby=Name%20desc", false, ""},
		{"$expand=Orders($filter=Amount%20gt%2010;$top=5;$expand=Lines($levels=max))", false, ""},
		{"$format=application/json;odata.metadata=minimal&$skiptoken=abc&$deltatoken=x1&$id=Products(1)", false, ""},
		{"$index=-1&$levels=2&$schemaversion=*&$apply=groupby((Name))&$compute=Price%20mul%202%20as%20Double", false, ""},
		{"$filter=Name%20eq%20'it''s%20(not'", false, ""},
		{`$filter=Name%20in%20["a)","b\"("]`, false, ""},
		{"$search=%22a%20(phrase%22%20OR%20don't", false, ""},
		{"custom=1&filter=x&@p=(&top=abc", false, ""}, // custom options and an alias in 4.0
		{"sap-client=100&$top=5", true, ""},
		{"$FILTER=a%20eq%201&Top=5&count=TRUE", true, ""},

		{"$top=-1", false, `Value of the system query option $top must be a whole number of 0 or more, not "-1".`},
		{"$top=1e3", false, `Value of the system query option $top must be a whole number of 0 or more, not "1e3".`},
		{"$skip=99999999999999999999", false, `Value of the system query option $skip must be a whole number of 0 or more, not "99999999999999999999".`},
		{"$index=--1", false, `Value of the system query option $index must be a whole number, not "--1".`},
		{"$levels=0", false, `Value of the system query option $levels must be a whole number of 1 or more or max, not "0".`},
		{"$count=yes", false, `Value of the system query option $count must be true or false, not "yes".`},
		{"$format=html", false, `Value of the system query option $format must be json, xml, atom or a media type such as application/json, not "html".`},
		{"$schemaversion=1%202", false, `Value of the system query option $schemaversion must be * or a version made of letters, digits, -, ., _ and ~, not "1 2".`},
		{"$filter=", false, `Value of the system query option $filter needs a value.`},
		{"$skiptoken", false, `Value of the system query option $skiptoken needs a value.`},
		{"$filter=(a%20eq%201", false, `Value of the system query option $filter is not well-formed: the ( at byte 1 is not closed.`},
		{"$orderby=a)", false, `Value of the system query option $orderby is not well-formed: the ) at byte 2 closes nothing.`},
		{"$filter=Name%20eq%20'Milk", false, `Value of the system query option $filter is not well-formed: a string starting at byte 9 is not closed.`},
		{"$search=%22blue", false, `Value of the system query option $search is not well-formed: a string starting at byte 1 is not closed.`},
		{"$top=1&$top=2", false, `Request cannot contain multiple values for the system query option $top.`},
		{"$top=1&%24top=2", false, `Request cannot contain multiple values for the system query option $top.`},
		{"$top=1&TOP=2", true, `Request cannot contain multiple values for the system query option $top.`},
		{"$inlinecount=allpages", false, `Unknown system query option "$inlinecount": names that begin with $ are reserved for OData's system query options.`},
		{"$Filter=a", false, `Unknown system query option "$Filter": OData 4.0 names system query options in lower case, as $filter.`},
		{"$foo%0Abar=1", true, `Unknown system query option "$foo\nbar": names that begin with $ are reserved for OData's system query options.`},
		{"count=5", true, `Value of the system query option $count must be true or false, not "5".`}, // not a custom option in 4.01
	}
	for _, tt := range tests {
		fs := checkODataQuery(nil, tt.query, tt.v401)
		got := ""
		if len(fs) > 0 {
			got = fs[0].Details
		}
		if got != tt.want {
			t.Errorf("%s (4.01 %t):\n got %s\nwant %s", tt.query, tt.v401, got, tt.want)
		}
	}

	// A huge value is cut in the message; a flood of options gives a bounded
	// number of findings.
	fs := checkODataQuery(nil, "$top="+strings.Repeat("9", 100000), false)
	if len(fs) != 1 || len(fs[0].Details) > 300 || !strings.Contains(fs[0].Details, `"`+strings.Repeat("9", 100)+`..."`) {
		t.Errorf("%d findings: %.400v", len(fs), fs)
	}
	var flood strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&flood, "$x%d=1&", i)
	}
	if fs := checkODataQuery(nil, flood.String(), false); len(fs) != maxODataFindings {
		t.Errorf("%d findings, want %d", len(fs), maxODataFindings)
	}
}
