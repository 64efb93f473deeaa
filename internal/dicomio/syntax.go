package dicomio

import "strings"

// Transfer syntax UIDs this package decodes.
const (
	tsImplicitLE = "1.2.840.10008.1.2"
	tsExplicitLE = "1.2.840.10008.1.2.1"
	tsDeflateLE  = "1.2.840.10008.1.2.1.99"
	tsExplicitBE = "1.2.840.10008.1.2.2"
	tsJPEGLL57   = "1.2.840.10008.1.2.4.57"
	tsJPEGLLSV1  = "1.2.840.10008.1.2.4.70"
	tsJPEGLS     = "1.2.840.10008.1.2.4.80"
	tsJPEGLSNear = "1.2.840.10008.1.2.4.81"
	tsRLE        = "1.2.840.10008.1.2.5"
)

// transferSyntaxNames maps transfer syntax UIDs (PS3.6 Annex A) to their
// names, for messages about files this package cannot or will not decode.
var transferSyntaxNames = map[string]string{
	tsImplicitLE:                "Implicit VR Little Endian",
	tsExplicitLE:                "Explicit VR Little Endian",
	tsDeflateLE:                 "Deflated Explicit VR Little Endian",
	tsExplicitBE:                "Explicit VR Big Endian (retired)",
	"1.2.840.10008.1.2.4.50":    "JPEG Baseline (Process 1)",
	"1.2.840.10008.1.2.4.51":    "JPEG Extended (Process 2 & 4)",
	"1.2.840.10008.1.2.4.52":    "JPEG Extended (Process 3 & 5) (retired)",
	"1.2.840.10008.1.2.4.53":    "JPEG Spectral Selection, Non-Hierarchical (Process 6 & 8) (retired)",
	"1.2.840.10008.1.2.4.54":    "JPEG Spectral Selection, Non-Hierarchical (Process 7 & 9) (retired)",
	"1.2.840.10008.1.2.4.55":    "JPEG Full Progression, Non-Hierarchical (Process 10 & 12) (retired)",
	"1.2.840.10008.1.2.4.56":    "JPEG Full Progression, Non-Hierarchical (Process 11 & 13) (retired)",
	tsJPEGLL57:                  "JPEG Lossless, Non-Hierarchical (Process 14)",
	"1.2.840.10008.1.2.4.58":    "JPEG Lossless, Non-Hierarchical (Process 15) (retired)",
	tsJPEGLLSV1:                 "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])",
	tsJPEGLS:                    "JPEG-LS Lossless Image Compression",
	tsJPEGLSNear:                "JPEG-LS Lossy (Near-Lossless) Image Compression",
	"1.2.840.10008.1.2.4.90":    "JPEG 2000 Image Compression (Lossless Only)",
	"1.2.840.10008.1.2.4.91":    "JPEG 2000 Image Compression",
	"1.2.840.10008.1.2.4.92":    "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)",
	"1.2.840.10008.1.2.4.93":    "JPEG 2000 Part 2 Multi-component Image Compression",
	"1.2.840.10008.1.2.4.94":    "JPIP Referenced",
	"1.2.840.10008.1.2.4.95":    "JPIP Referenced Deflate",
	"1.2.840.10008.1.2.4.100":   "MPEG2 Main Profile / Main Level",
	"1.2.840.10008.1.2.4.101":   "MPEG2 Main Profile / High Level",
	"1.2.840.10008.1.2.4.102":   "MPEG-4 AVC/H.264 High Profile / Level 4.1",
	"1.2.840.10008.1.2.4.103":   "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1",
	"1.2.840.10008.1.2.4.104":   "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video",
	"1.2.840.10008.1.2.4.105":   "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video",
	"1.2.840.10008.1.2.4.106":   "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2",
	"1.2.840.10008.1.2.4.107":   "HEVC/H.265 Main Profile / Level 5.1",
	"1.2.840.10008.1.2.4.108":   "HEVC/H.265 Main 10 Profile / Level 5.1",
	"1.2.840.10008.1.2.4.201":   "High-Throughput JPEG 2000 Image Compression (Lossless Only)",
	"1.2.840.10008.1.2.4.202":   "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)",
	"1.2.840.10008.1.2.4.203":   "High-Throughput JPEG 2000 Image Compression",
	tsRLE:                       "RLE Lossless",
	"1.2.840.10008.1.2.6.1":     "RFC 2557 MIME encapsulation (retired)",
	"1.2.840.10008.1.2.6.2":     "XML Encoding (retired)",
	"1.2.840.10008.1.2.7.1":     "SMPTE ST 2110-20 Uncompressed Progressive Active Video",
	"1.2.840.10008.1.2.8.1":     "Deflated Image Frame Compression",
	"1.2.840.10008.1.2.1.98":    "Encapsulated Uncompressed Explicit VR Little Endian",
	"1.2.840.10008.1.2.4.110":   "JPEG XL Lossless",
	"1.2.840.10008.1.2.4.111":   "JPEG XL JPEG Recompression",
	"1.2.840.10008.1.2.4.112":   "JPEG XL",
	"1.2.840.10008.1.2.4.100.1": "Fragmentable MPEG2 Main Profile / Main Level",
}

// TransferSyntaxName returns the PS3.6 name of a transfer syntax UID, or
// "unknown transfer syntax" when the UID is not in the table.
func TransferSyntaxName(uid string) string {
	if n, ok := transferSyntaxNames[uid]; ok {
		return n
	}
	return "unknown transfer syntax"
}

// decodable reports whether this package can decode pixel data stored with
// transfer syntax uid.
func decodable(uid string) bool {
	switch uid {
	case tsImplicitLE, tsExplicitLE, tsDeflateLE, tsExplicitBE, tsJPEGLL57, tsJPEGLLSV1, tsJPEGLS, tsJPEGLSNear, tsRLE:
		return true
	}
	return false
}

// isEncapsulatedSyntax reports whether uid stores pixel data encapsulated
// (compressed fragments); the decodable native ones do not.
func isEncapsulatedSyntax(uid string) bool {
	switch uid {
	case tsImplicitLE, tsExplicitLE, tsDeflateLE, tsExplicitBE:
		return false
	}
	return true
}

// decompressHint tells the user how to get an undecodable file read: every
// compressed syntax lungctl lacks can be decompressed to Explicit VR Little
// Endian with GDCM (any syntax) or DCMTK (the JPEG family).
func decompressHint(uid string) string {
	if !isEncapsulatedSyntax(uid) || !isKnownSyntax(uid) {
		return ""
	}
	tool := "gdcmconv --raw IN OUT (GDCM)"
	switch {
	case strings.HasPrefix(uid, "1.2.840.10008.1.2.4.9") || strings.HasPrefix(uid, "1.2.840.10008.1.2.4.20"):
		tool += " or dcmdjp2k IN OUT (DCMTK 3.6.8+)"
	case strings.HasPrefix(uid, "1.2.840.10008.1.2.4.5"):
		tool += " or dcmdjpeg IN OUT (DCMTK)"
	}
	return "; decompress the files first, e.g. " + tool
}
