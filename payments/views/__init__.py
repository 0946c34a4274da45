"""The payment pages: rounds (``rounds``) and acceptance before payment (``acceptance``)."""
