package cron

import (
	"slices"
	"strings"
)

func cmpJobs(a, b *Job) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

func sortJobs(js []Job)  { slices.SortFunc(js, func(a, b Job) int { return cmpJobs(&a, &b) }) }
func sortPtrs(js []*Job) { slices.SortFunc(js, cmpJobs) }
