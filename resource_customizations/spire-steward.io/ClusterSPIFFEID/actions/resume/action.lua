-- Clears spec.suspend: the operator reconciles the resource's entries again.
obj.spec.suspend = false
return obj
