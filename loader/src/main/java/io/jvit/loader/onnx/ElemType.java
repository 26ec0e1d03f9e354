package io.jvit.loader.onnx;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** The ONNX element types jvit can read, with their {@code TensorProto.DataType} numbers. */
enum ElemType {
    FLOAT(1, 4), UINT8(2, 1), INT8(3, 1), UINT16(4, 2), INT16(5, 2), INT32(6, 4), INT64(7, 8),
    BOOL(9, 1), FLOAT16(10, 2), DOUBLE(11, 8), UINT32(12, 4), UINT64(13, 8), BFLOAT16(16, 2);

    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    final int code, size;

    ElemType(int code, int size) {
        this.code = code;
        this.size = size;
    }

    boolean isFloat() { return this == FLOAT || this == FLOAT16 || this == BFLOAT16 || this == DOUBLE; }

    /** The type for an ONNX DataType number, or null when jvit cannot read it. */
    static ElemType of(int code) {
        for (ElemType t : values()) if (t.code == code) return t;
        return null;
    }

    /** ONNX's name for a DataType number, known to jvit or not. */
    static String onnxName(int code) {
        return switch (code) {
            case 0 -> "UNDEFINED";
            case 1 -> "FLOAT";
            case 2 -> "UINT8";
            case 3 -> "INT8";
            case 4 -> "UINT16";
            case 5 -> "INT16";
            case 6 -> "INT32";
            case 7 -> "INT64";
            case 8 -> "STRING";
            case 9 -> "BOOL";
            case 10 -> "FLOAT16";
            case 11 -> "DOUBLE";
            case 12 -> "UINT32";
            case 13 -> "UINT64";
            case 14 -> "COMPLEX64";
            case 15 -> "COMPLEX128";
            case 16 -> "BFLOAT16";
            case 17 -> "FLOAT8E4M3FN";
            case 18 -> "FLOAT8E4M3FNUZ";
            case 19 -> "FLOAT8E5M2";
            case 20 -> "FLOAT8E5M2FNUZ";
            case 21 -> "UINT4";
            case 22 -> "INT4";
            case 23 -> "FLOAT4E2M1";
            default -> "type " + code;
        };
    }

    /** Element {@code index} (counted in elements from the segment's start) as a double. */
    double getDouble(MemorySegment s, long index) {
        long o = index * size;
        return switch (this) {
            case FLOAT -> s.get(F32, o);
            case DOUBLE -> s.get(F64, o);
            case FLOAT16 -> Float.float16ToFloat(s.get(I16, o));
            case BFLOAT16 -> Float.intBitsToFloat((s.get(I16, o) & 0xffff) << 16);
            default -> getLong(s, index);
        };
    }

    float getFloat(MemorySegment s, long index) {
        return this == FLOAT ? s.get(F32, index * 4) : (float) getDouble(s, index);
    }

    long getLong(MemorySegment s, long index) {
        long o = index * size;
        return switch (this) {
            case INT64, UINT64 -> s.get(I64, o);
            case INT32 -> s.get(I32, o);
            case UINT32 -> s.get(I32, o) & 0xffffffffL;
            case INT16 -> s.get(I16, o);
            case UINT16 -> s.get(I16, o) & 0xffff;
            case INT8 -> s.get(ValueLayout.JAVA_BYTE, o);
            case UINT8, BOOL -> s.get(ValueLayout.JAVA_BYTE, o) & 0xff;
            default -> (long) getDouble(s, index);
        };
    }
}
