package benchmarks

import (
	"encoding/json"
	"fmt"
	"io"
)

// writeJSON writes v to w as JSON, each nesting level indented by indent.
func writeJSON(w io.Writer, v any, indent string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", indent)
	return enc.Encode(v)
}

// mdOrJSON refuses a report format other than "md" ("" is the same) and
// "json"; who names the suite in the error.
func mdOrJSON(who, format string) error {
	if format != "" && format != "md" && format != "json" {
		return fmt.Errorf("%s: unknown format %q (md or json)", who, format)
	}
	return nil
}

// startReport begins a Write* whose report rep is a Markdown table ("md" or
// "") or JSON ("json"): a nil report (missing) or another format is an
// error naming who, and nothing is written; JSON, indented by indent, is
// written here. It reports whether the caller is to write the table.
func startReport(w io.Writer, who string, rep any, missing bool, format, indent string) (markdown bool, err error) {
	if missing {
		return false, fmt.Errorf("%s: no report to write", who)
	}
	if err := mdOrJSON(who, format); err != nil {
		return false, err
	}
	if format == "json" {
		return false, writeJSON(w, rep, indent)
	}
	return true, nil
}
