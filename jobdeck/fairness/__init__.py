"""Fair sharing between organizations (issue 16): the limits an organization works under
and the token bucket behind the API's rate limits. Plain rules, no I/O: the store keeps
the state, the activities and the API apply them."""
