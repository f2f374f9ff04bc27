package app

import (
	"encoding/json"
)

// EventType is one entry of the built-in event catalog.
type EventType struct {
	Name        string         `json:"name"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Required    []string       `json:"required"` // dotted paths inside data
	Example     map[string]any `json:"example"`  // an example data object
}

// catalog is the list of events Herald accepts, in the order a person reads them.
var catalog = []EventType{
	{Name: "contact_created", Title: "Contact Created", Description: "A contact was added, by hand, by an import or through the API.",
		Required: []string{"contact.id"}, Example: obj(`{"contact":{"id":"ct_1001","name":"Ana García","phone":"+34600111222","email":"ana@example.com","channel":"whatsapp"},"source":"import"}`)},
	{Name: "contact_resumed", Title: "Contact Resumed", Description: "A paused or stopped conversation was resumed, so the bot answers again.",
		Required: []string{"contact.id"}, Example: obj(`{"contact":{"id":"ct_1001","name":"Ana García","channel":"whatsapp"},"resumed_by":"agent@example.com"}`)},
	{Name: "contact_paused", Title: "Contact Paused", Description: "A conversation was paused: the bot stops answering this contact.",
		Required: []string{"contact.id"}, Example: obj(`{"contact":{"id":"ct_1001","name":"Ana García","channel":"whatsapp"},"paused_by":"agent@example.com"}`)},
	{Name: "contact_do_not_disturb", Title: "Contact Do Not Disturb", Description: "Do Not Disturb was switched on: send this contact no more automated messages.",
		Required: []string{"contact.id"}, Example: obj(`{"contact":{"id":"ct_1001","name":"Ana García","channel":"sms"}}`)},
	{Name: "contact_unarchived", Title: "Contact Unarchived", Description: "An archived contact wrote again and is back in the active inbox.",
		Required: []string{"contact.id"}, Example: obj(`{"contact":{"id":"ct_1001","name":"Ana García","channel":"instagram"}}`)},
	{Name: "human_alerted", Title: "Human Alerted", Description: "The bot could not handle the conversation and asked for a person to take over.",
		Required: []string{"contact.id"}, Example: obj(`{"contact":{"id":"ct_1001","name":"Ana García","phone":"+34600111222","channel":"whatsapp"},"reason":"Asks for a refund on order 4411","conversation_url":"https://app.example.com/inbox/ct_1001"}`)},
	{Name: "appointment_booked", Title: "Appointment Booked", Description: "A contact booked an appointment through the booking system.",
		Required: []string{"contact.id", "appointment.start"}, Example: obj(`{"contact":{"id":"ct_1001","name":"Ana García","email":"ana@example.com"},"appointment":{"id":"ap_77","start":"2026-12-04T15:00:00Z","end":"2026-12-04T15:30:00Z","title":"Consultation","location":"Main office"}}`)},
	{Name: "new_message", Title: "New Message", Description: "A message arrived from a contact, on any channel.",
		Required: []string{"contact.id", "message.text", "message.channel"}, Example: obj(`{"contact":{"id":"ct_1001","name":"Ana García"},"message":{"id":"msg_501","text":"Hi, do you have a table for 4 on Friday at 8pm?","channel":"whatsapp","direction":"inbound"}}`)},
	{Name: "message_replied", Title: "Replies", Description: "A contact replied to a message.",
		Required: []string{"contact.id", "message.text"}, Example: obj(`{"contact":{"id":"ct_1001","name":"Ana García"},"message":{"id":"msg_502","text":"Yes, 8pm works for us.","channel":"whatsapp","in_reply_to":"msg_499"}}`)},
	{Name: "message_read", Title: "Reads", Description: "A contact read a message (on channels with read receipts).",
		Required: []string{"contact.id", "message.id"}, Example: obj(`{"contact":{"id":"ct_1001"},"message":{"id":"msg_499","channel":"whatsapp"}}`)},
	{Name: "message_delivered", Title: "Message Delivered", Description: "A message reached the contact's device.",
		Required: []string{"contact.id", "message.id"}, Example: obj(`{"contact":{"id":"ct_1001"},"message":{"id":"msg_499","channel":"whatsapp"}}`)},
	{Name: "credits_spent", Title: "Credits Spent", Description: "Credits were deducted from the account; useful for tracking usage.",
		Required: []string{"credits.amount"}, Example: obj(`{"credits":{"amount":12,"balance":488,"reason":"ai_replies"}}`)},
	{Name: "credits_recharged", Title: "Credits Recharged", Description: "Credits were added, by auto-recharge or a manual purchase.",
		Required: []string{"credits.amount"}, Example: obj(`{"credits":{"amount":1000,"balance":1488,"method":"auto_recharge"}}`)},
	{Name: "tag_applied", Title: "Tag Applied", Description: "A tag was applied to a contact. Webhooks can fire for chosen tags only.",
		Required: []string{"contact.id", "tag"}, Example: obj(`{"contact":{"id":"ct_1001","name":"Ana García","phone":"+34600111222"},"tag":"qualified-lead"}`)},
	{Name: TestEvent, Title: "Test Event", Description: "Sent only by Send Test Event, to check that a receiver works.",
		Required: []string{}, Example: obj(`{"message":"This is a test event from Herald.","contact":{"id":"ct_test","name":"Test Contact"}}`)},
}

var catalogByName = func() map[string]*EventType {
	m := make(map[string]*EventType, len(catalog))
	for i := range catalog {
		m[catalog[i].Name] = &catalog[i]
	}
	return m
}()

func obj(s string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic("catalog example: " + err.Error())
	}
	return m
}
