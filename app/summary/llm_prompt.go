package summary

import (
	"fmt"
	"strings"
)

// systemPrompt tells the model what a Herald summary is. Temperature 0 and
// "only what is written" keep it close to the built-in summarizer's promise.
const systemPrompt = `You write the summary that a business's CRM stores when a contact is tagged.
Use only what the conversation states: do not guess, infer or add anything.
Say who the contact is and what they want. Keep every concrete detail: dates, times, number of people or items, prices and amounts, email addresses, phone numbers, order or booking references, and whether a booking or appointment was made, changed or cancelled. End with where the conversation stands now.
Write plain text of at most 600 characters, in the language the contact writes in. No greeting, no preamble, no markdown.`

// maxTranscript bounds the user message, in runes: the newest messages are
// kept, since they say where things stand.
const maxTranscript = 24000

// transcript renders the conversation for the model and reports how many
// messages it holds.
func transcript(c Contact, tag string, lines []line) (string, int) {
	var head strings.Builder
	fmt.Fprintf(&head, "Contact: %s\n", who(c, lines))
	if tag = normalizeSpace(tag); tag != "" {
		fmt.Fprintf(&head, "Tag just applied: %s\n", tag)
	}
	budget := maxTranscript - runeLen(head.String())
	var kept []string
	for i := len(lines) - 1; i >= 0; i-- {
		speaker := "Business"
		if lines[i].inbound {
			speaker = "Contact"
		}
		l := speaker + ": " + lines[i].text
		if budget -= runeLen(l) + 1; budget < 0 && len(kept) > 0 {
			break
		}
		kept = append(kept, clip(l, maxTranscript/2))
	}
	var b strings.Builder
	b.WriteString(head.String())
	if omitted := len(lines) - len(kept); omitted > 0 {
		fmt.Fprintf(&b, "(%d earlier messages left out)\n", omitted)
	}
	b.WriteString("\nConversation, oldest first:\n")
	for i := len(kept) - 1; i >= 0; i-- {
		b.WriteString(kept[i])
		b.WriteByte('\n')
	}
	return b.String(), len(kept)
}
