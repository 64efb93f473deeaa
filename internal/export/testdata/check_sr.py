"""Independent check of a TID 1500 Comprehensive 3D SR written by lungctl, with pydicom.

usage: check_sr.py SR EXPECT.json

EXPECT holds {"study": uid, "series": uid, "for": uid, "sops": [source SOP Instance UIDs],
"seg": SEG SOP Instance UID or "", "tracking": {rank: uid} or {},
"findings": [{"label", "centre": [x, y, z], "long", "short", "mean", "volume" (null = absent),
"type", "lungrads"}]}.
Fails with exit status 1 and a message on the first mismatch; prints a JSON summary otherwise.
"""
import json
import sys

import pydicom


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def name(item):
    c = item.ConceptNameCodeSequence[0]
    return (c.CodeValue, c.CodingSchemeDesignator)


def children(item, concept=None, vt=None):
    out = []
    for c in item.get("ContentSequence", []):
        if (concept is None or name(c) == concept) and (vt is None or c.ValueType == vt):
            out.append(c)
    return out


def one(item, concept, vt):
    cs = children(item, concept, vt)
    if len(cs) != 1:
        fail("%d %s items named %s, want 1" % (len(cs), vt, concept))
    return cs[0]


ds = pydicom.dcmread(sys.argv[1])
exp = json.load(open(sys.argv[2]))
if ds.SOPClassUID != "1.2.840.10008.5.1.4.1.1.88.34" or ds.Modality != "SR":
    fail("not a Comprehensive 3D SR: %s %s" % (ds.SOPClassUID, ds.Modality))
if ds.StudyInstanceUID != exp["study"]:
    fail("study %s, want the source's %s" % (ds.StudyInstanceUID, exp["study"]))
if name(ds) != ("126000", "DCM") or ds.ValueType != "CONTAINER":
    fail("root is %s %s, want CONTAINER 126000 DCM" % (ds.ValueType, name(ds)))
tpl = ds.ContentTemplateSequence[0]
if tpl.MappingResource != "DCMR" or tpl.TemplateIdentifier != "1500":
    fail("root template %s %s" % (tpl.MappingResource, tpl.TemplateIdentifier))
lang = one(ds, ("121049", "DCM"), "CODE")
if lang.ConceptCodeSequence[0].CodeValue != "en-US":
    fail("language %s" % lang.ConceptCodeSequence[0].CodeValue)
obs = one(ds, ("121005", "DCM"), "CODE")
if obs.RelationshipType != "HAS OBS CONTEXT" or obs.ConceptCodeSequence[0].CodeValue != "121007":
    fail("observer type is not Device")
if one(ds, ("121013", "DCM"), "TEXT").TextValue != "lungctl":
    fail("device observer name is not lungctl")
one(ds, ("121058", "DCM"), "CODE")

ev = ds.CurrentRequestedProcedureEvidenceSequence[0]
if ev.StudyInstanceUID != exp["study"] or ev.ReferencedSeriesSequence[0].SeriesInstanceUID != exp["series"]:
    fail("evidence does not name the source study/series")
sops = {r.ReferencedSOPInstanceUID for r in ev.ReferencedSeriesSequence[0].ReferencedSOPSequence}
if sops != set(exp["sops"]):
    fail("evidence lists %d SOP instances, the source has %d" % (len(sops), len(exp["sops"])))
if exp["seg"]:
    other = ds.PertinentOtherEvidenceSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    if other.ReferencedSOPInstanceUID != exp["seg"]:
        fail("pertinent other evidence %s, want the SEG %s" % (other.ReferencedSOPInstanceUID, exp["seg"]))

meas = one(ds, ("126010", "DCM"), "CONTAINER")
groups = children(meas, ("125007", "DCM"), "CONTAINER")
if len(groups) != len(exp["findings"]):
    fail("%d measurement groups for %d findings" % (len(groups), len(exp["findings"])))
nums = 0
for g, f in zip(groups, exp["findings"]):
    label = f["label"]
    if one(g, ("112039", "DCM"), "TEXT").TextValue != label:
        fail("group tracking identifier %s, want %s" % (one(g, ("112039", "DCM"), "TEXT").TextValue, label))
    tuid = one(g, ("112040", "DCM"), "UIDREF").UID
    want = exp["tracking"].get(str(f["rank"]))
    if want and tuid != want:
        fail("%s: tracking UID %s, the SEG has %s" % (label, tuid, want))
    if one(g, ("121071", "DCM"), "CODE").ConceptCodeSequence[0].CodeValue != "27925004":
        fail("%s: finding is not Nodule" % label)
    site = one(g, ("363698007", "SCT"), "CODE")
    if site.RelationshipType != "HAS CONCEPT MOD" or site.ConceptCodeSequence[0].CodeValue != "39607008":
        fail("%s: finding site is not Lung" % label)
    pt = one(g, ("111030", "DCM"), "SCOORD3D")
    if pt.GraphicType != "POINT" or pt.ReferencedFrameOfReferenceUID != exp["for"]:
        fail("%s: region is %s in %s" % (label, pt.GraphicType, pt.ReferencedFrameOfReferenceUID))
    if max(abs(float(a) - b) for a, b in zip(pt.GraphicData, f["centre"])) > 1e-3:
        fail("%s: point %s, want %s (LPS mm)" % (label, list(pt.GraphicData), f["centre"]))
    for key, concept, unit in (("long", ("103339001", "SCT"), "mm"), ("short", ("103340004", "SCT"), "mm"),
                               ("mean", ("81827009", "SCT"), "mm"), ("volume", ("118565006", "SCT"), "mm3")):
        items = children(g, concept, "NUM")
        if f[key] is None:
            if items:
                fail("%s: %s present for an unknown value" % (label, key))
            continue
        if len(items) != 1:
            fail("%s: %d %s items" % (label, len(items), key))
        mv = items[0].MeasuredValueSequence[0]
        u = mv.MeasurementUnitsCodeSequence[0]
        if (u.CodeValue, u.CodingSchemeDesignator) != (unit, "UCUM"):
            fail("%s: %s unit %s %s" % (label, key, u.CodeValue, u.CodingSchemeDesignator))
        if abs(float(mv.NumericValue) - f[key]) > 1e-6 * max(1, abs(f[key])):
            fail("%s: %s = %s, want %s" % (label, key, mv.NumericValue, f[key]))
        if key == "mean":
            d = one(items[0], ("121401", "DCM"), "CODE")
            if d.ConceptCodeSequence[0].CodeValue != "373098007":
                fail("%s: mean diameter without derivation Mean" % label)
        nums += 1
    texts = [t.TextValue for t in children(g, ("C0034375", "UMLS"), "TEXT")]
    if f["type"] and "Nodule type: " + f["type"] not in texts:
        fail("%s: no nodule type in %s" % (label, texts))
    if f["lungrads"] and "Lung-RADS category: " + f["lungrads"] not in texts:
        fail("%s: no Lung-RADS category in %s" % (label, texts))
print(json.dumps({"groups": len(groups), "nums": nums, "evidence": len(sops)}))
