package ids

// ShortID is the 12-character form of a container or image id (its hex
// digits, without the algorithm) that Docker shows and accepts.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
