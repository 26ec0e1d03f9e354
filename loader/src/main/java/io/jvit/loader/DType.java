package io.jvit.loader;

/** Tensor element types as safetensors names them; jvit computes with F32, F16, BF16 and I8. */
public enum DType {
    F64(8), F32(4), F16(2), BF16(2), I64(8), I32(4), I16(2), I8(1), U64(8), U32(4), U16(2), U8(1), BOOL(1),
    F8_E4M3(1), F8_E5M2(1);

    public final int size;

    DType(int size) { this.size = size; }

    public static DType parse(String s) {
        for (DType d : values()) if (d.name().equals(s)) return d;
        return null;
    }

    public boolean isFloat() { return this == F32 || this == F16 || this == BF16; }
}
