"""What a run gives a person: loading and sampling a trained model, export, the report and its curves."""
