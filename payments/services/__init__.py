"""The writes of payments, one module per concept: ``rounds`` (draw up, approve, cancel) and
``bank_files`` (the file sent to the bank, the return file applied). Import from the module."""
