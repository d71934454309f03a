-- Sets spec.suspend: the operator leaves the resource's entries in SPIRE as they are and reports
-- Ready with reason Suspended.
obj.spec.suspend = true
return obj
