package summary

import (
	"testing"
)

func BenchmarkExtractors(b *testing.B) {
	text := "Yes, the hall is yours from 8:00 on Tuesday 12 May. Your booking is confirmed, see you then! Call +44 20 7946 0321 or pay €3,500."
	for i, ex := range extractors {
		b.Run(groupLabels[max(ex.group, 0)]+string(rune('a'+i)), func(b *testing.B) {
			for b.Loop() {
				ex.re.FindAllStringSubmatchIndex(text, -1)
			}
		})
	}
}
