-- Health of a spire-steward.io resource: ClusterSPIFFEID, SPIFFEID, ClusterStaticEntry,
-- ClusterFederatedTrustDomain, IdentityPolicy and IdentityException share this script.
--
-- The operator follows the kstatus conventions: Ready is always present, Reconciling and
-- Stalled only while true, and every condition carries the generation it describes. Anything
-- time-based (an exception's expiry) is already a condition, so the script reads no clock and
-- needs no library beyond base and table.
local hs = {}

local function condition(conditions, type)
  for _, c in ipairs(conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function is_true(c)
  return c ~= nil and c.status == "True"
end

if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  if obj.metadata.finalizers ~= nil and #obj.metadata.finalizers > 0 then
    hs.message = "Deleting; waiting for finalizers: " .. table.concat(obj.metadata.finalizers, ", ")
  else
    hs.message = "Deleting"
  end
  return hs
end

local status = obj.status or {}
local conditions = status.conditions or {}
local ready = condition(conditions, "Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

-- A status written for an older spec says nothing about the current one.
local generation = obj.metadata.generation
local observed = status.observedGeneration
if ready.observedGeneration ~= nil and (observed == nil or ready.observedGeneration < observed) then
  observed = ready.observedGeneration
end
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local stalled = condition(conditions, "Stalled")
if is_true(stalled) then
  hs.status = "Degraded"
  hs.message = stalled.message
  return hs
end

-- Suspended by the user, or left alone because the operator's configuration switches the kind
-- off (ReconcileDisabled) or only observes (Observing): nothing will change until a person acts.
if ready.reason == "Suspended" or ready.reason == "ReconcileDisabled" or ready.reason == "Observing" then
  hs.status = "Suspended"
  hs.message = ready.message
  return hs
end

local reconciling = condition(conditions, "Reconciling")
if is_true(reconciling) then
  hs.status = "Progressing"
  hs.message = reconciling.message
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  local expiring = condition(conditions, "ExpiringSoon")
  if is_true(expiring) then
    hs.message = "Expiring soon: " .. expiring.message
  else
    hs.message = ready.message
  end
  return hs
end

-- SPIRE unreachable, or the first reconciliation still to come: retried by the operator.
if ready.status == "Unknown" or ready.reason == "SpireUnavailable" or ready.reason == "Pending" then
  hs.status = "Progressing"
  hs.message = ready.message
  return hs
end

hs.status = "Degraded"
hs.message = ready.message
return hs
