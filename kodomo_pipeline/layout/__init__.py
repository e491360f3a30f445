"""Town export layouts: decoding exports into canonical values and (for the generator) back."""
