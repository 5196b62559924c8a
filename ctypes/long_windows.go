package ctypes

// longSize is the size of a C long: 4 bytes on Windows (LLP64), even on 64-bit.
const longSize = 4
