-- Suspend and resume: spec.suspend stops the operator from changing the resource's entries in
-- SPIRE (they are kept as they are) until it is cleared. Only the action that changes something
-- is enabled.
local actions = {}
local suspended = obj.spec ~= nil and obj.spec.suspend == true
actions["suspend"] = {["disabled"] = suspended}
actions["resume"] = {["disabled"] = not suspended}
return actions
