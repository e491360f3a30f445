"""名寄せ: linking nursery and school records, which carry no resident ID, to registry persons."""
