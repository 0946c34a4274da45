"""What documents write, one module per concept: ``issuing`` (each kind of document, rendered
once, stored and audited), ``verification`` (the codes and URLs printed on them) and
``batches`` (a township's documents as one background job). Import from the module."""
