"""The model: what a priors folder says and what a report weighs. ICD 203 terms, the validated
`Priors` (frozen dataclasses) and pooling (MODEL.md §2), the pydantic file schemas (`specs`), the checks that span files (`schema`) and their located problems (`problems`), loading with
its cache, Admiralty grades and evidence folding (§3), and the network as arrays. numpy only, no
pymc. May import: core."""
