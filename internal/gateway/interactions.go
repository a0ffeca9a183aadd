package gateway

import (
	"context"

	"github.com/crm-gateway/crm-gateway/internal/crm"
)

// interactor returns the adapter's conversation side when the vendor offers
// capability.
func (c *Connection) interactor(capability crm.Capability) (crm.Interactor, error) {
	ix, ok := c.Connector.(crm.Interactor)
	if !ok || !c.Supports(capability) {
		return nil, crm.Unsupported(c.Vendor(), capability)
	}
	return ix, nil
}

func (c *Connection) label(ix *crm.Interaction, err error) (*crm.Interaction, error) {
	if err != nil {
		return nil, err
	}
	ix.Connection = c.Name
	return ix, nil
}

// StartInteraction opens an interaction; historyURL is where the vendor
// can fetch the conversation so far ("" for none).
func (c *Connection) StartInteraction(ctx context.Context, s crm.InteractionStart, historyURL string) (*crm.Interaction, error) {
	ix, err := c.interactor(crm.CapInteractionStart)
	if err != nil {
		return nil, err
	}
	return c.label(ix.StartInteraction(ctx, s, historyURL))
}

// UpdateInteraction changes mood, tags, customer or note.
func (c *Connection) UpdateInteraction(ctx context.Context, id string, u crm.InteractionUpdate) (*crm.Interaction, error) {
	ix, err := c.interactor(crm.CapInteractionUpdate)
	if err != nil {
		return nil, err
	}
	return c.label(ix.UpdateInteraction(ctx, id, u))
}

// SendMessage sends the customer's message into the interaction.
func (c *Connection) SendMessage(ctx context.Context, id string, m crm.Message) (*crm.Interaction, error) {
	ix, err := c.interactor(crm.CapInteractionMessage)
	if err != nil {
		return nil, err
	}
	return c.label(ix.SendMessage(ctx, id, m))
}

// SetTyping tells the agent the customer is typing, or stopped.
func (c *Connection) SetTyping(ctx context.Context, id string, typing bool) (*crm.Interaction, error) {
	ix, err := c.interactor(crm.CapInteractionTyping)
	if err != nil {
		return nil, err
	}
	return c.label(ix.SetTyping(ctx, id, typing))
}

// FinishInteraction ends the interaction.
func (c *Connection) FinishInteraction(ctx context.Context, id string) (*crm.Interaction, error) {
	ix, err := c.interactor(crm.CapInteractionFinish)
	if err != nil {
		return nil, err
	}
	return c.label(ix.FinishInteraction(ctx, id))
}
