package app

import (
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/oklog/ulid/v2"
)

// The rules every list follows (DESIGN.md §6): an unknown query parameter,
// a bad value or a bad cursor is a 422 naming it; an id in a filter that
// does not exist is a 404; the last page has an empty next_cursor.

// listParams checks a list's query string: limit, after and the filters
// named in allowed, nothing else. It returns the limit and the cursor.
func listParams(c *fiber.Ctx, allowed ...string) (limit int, after string, err error) {
	if err := onlyQuery(c, append(allowed, "limit", "after")...); err != nil {
		return 0, "", err
	}
	if limit, err = limitParam(c); err != nil {
		return 0, "", err
	}
	return limit, c.Query("after"), nil
}

// idCursor checks that a cursor is an id Herald made: prefix + a ULID.
func idCursor(after, prefix string) error {
	if after == "" {
		return nil
	}
	rest, ok := strings.CutPrefix(after, prefix)
	if _, err := ulid.ParseStrict(rest); !ok || err != nil {
		return invalid("after", "after must be the next_cursor of a previous page")
	}
	return nil
}

// pageOf is a list answer for items fetched with limit+1: the extra item,
// if there, only says that another page follows; the cursor is then the
// key of the last item shown, passed back as ?after=. So the last page
// always has an empty next_cursor, even when it is full.
func pageOf[T, I any](data []T, items []I, limit int, key func(I) string) list[T] {
	next := ""
	if len(items) > limit && limit > 0 {
		next = key(items[limit-1])
		data = data[:limit]
	}
	return newList(data, next)
}

// pageSlice pages a list kept in memory (tokens, plugins), sorted by key:
// the items after the cursor, up to limit.
func pageSlice[T any](all []T, after string, limit int, key func(T) string) list[T] {
	i := 0
	if after != "" {
		for i < len(all) && key(all[i]) <= after {
			i++
		}
	}
	end := min(i+limit+1, len(all))
	return pageOf(all[i:end], all[i:end], limit, key)
}
