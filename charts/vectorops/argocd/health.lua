-- Argo CD health check of every vectorops kind (VectorStore, VectorCollection, EmbeddingModel,
-- ExternalModelEndpoint): their status has metav1.Condition conditions with a top-level Ready and
-- observedGeneration. Written for Lua 5.1 (Argo CD's gopher-lua); tests/chart/test_argocd_health.py runs
-- it with Debian's lua5.1 on sample objects.
--
--   no status yet, or status.observedGeneration < metadata.generation  -> Progressing
--   Ready Unknown, or Ready False for a reason that passes by itself     -> Progressing
--   Ready reason ScaledToZero (an EmbeddingModel with replicas: 0)       -> Suspended
--   Ready True, Degraded True (an endpoint failing probes or a breaker)  -> Degraded
--   Ready True                                                          -> Healthy
--   Ready False for any other reason (a missing Secret, RequiresRebuild) -> Degraded
local hs = {}

-- Ready=False reasons the operator resolves without anyone acting: waiting, not failing.
local waiting = {
  Reconciling = true,
  RollingOut = true,
  DimensionUnknown = true,
  Created = true,
  Updated = true,
}

local function find(conditions, kind)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function says(c)
  local text = c.reason or ""
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end

local generation = 0
if obj.metadata ~= nil and obj.metadata.generation ~= nil then
  generation = obj.metadata.generation
end
local status = obj.status

if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end
if status.observedGeneration == nil or status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local ready = find(status.conditions, "Ready")
if ready == nil or ready.status == "Unknown" then
  hs.status = "Progressing"
  if ready ~= nil then
    hs.message = says(ready)
  else
    hs.message = "No Ready condition yet"
  end
  return hs
end
if ready.reason == "ScaledToZero" then
  hs.status = "Suspended"
  hs.message = says(ready)
  return hs
end
if ready.status == "True" then
  local degraded = find(status.conditions, "Degraded")
  if degraded ~= nil and degraded.status == "True" then
    hs.status = "Degraded"
    hs.message = says(degraded)
    return hs
  end
  hs.status = "Healthy"
  hs.message = says(ready)
  return hs
end
if waiting[ready.reason] then
  hs.status = "Progressing"
else
  hs.status = "Degraded"
end
hs.message = says(ready)
return hs
