package helix

// SetPageSize sets the page size of paginated lists, so tests can cross pages cheaply.
func SetPageSize(c *Client, n int) { c.pageSize = n }
