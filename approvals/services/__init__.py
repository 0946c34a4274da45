"""The writes of the approvals layer, one module per concept: ``filing``, ``transitions``,
``objections``, ``attachments``, ``card_checks``; ``access`` holds the scoped, locked read
they start from. Import from the module, not from this package."""
