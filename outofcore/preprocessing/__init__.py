"""Out-of-core preprocessing: steps fitted by one parallel reduction, applied lazily per block."""
