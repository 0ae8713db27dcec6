"""The hub's bounded store of named entries and what each entry adds as a flow."""
