# Micro-kernel shape experiment behind tools/gen_matmul.py's MR x NV choice (results: tools/matmul_shapes.txt).
# Generates MK.java with one kernel per variant and a driver; run from an empty folder:
#   /usr/bin/python3 /path/to/tools/matmul_variants.py && $JAVA_HOME/bin/javac --add-modules jdk.incubator.vector MK.java
#   $JAVA_HOME/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Dreps=3 -cp . MK k6x4seg k8x2seg k6x4seg:768 ...
# Variant names: k<MR>x<NV><mode>[:KC]; modes: seg (A rows from a MemorySegment, as the engine does), segc/segi
# (int loop index), packA (A re-laid k-major per MR rows), arr (A in a heap float[]). Alternate variants on one
# command line: this machine's speed drifts by up to 1.5x over tens of seconds, so only neighbours compare.
variants = []
def kernel(name, MR, NV, mode):
    # mode: 'seg' (A from MemorySegment rows, var stride), 'segc' (const stride panel, int loop),
    # 'packA' (A packed k-major MR floats), 'arr' (A heap float[] rows)
    L=[]
    sig = "(MemorySegment a, long aOff, long lda, MemorySegment b, long bOff, int k, MemorySegment c, long cOff, long ldc)"
    if mode=='arr': sig = "(float[] a, int aOff, int lda, MemorySegment b, long bOff, int k, MemorySegment c, long cOff, long ldc)"
    L.append(f"  static void {name}{sig} {{")
    L.append("    FloatVector z = FloatVector.zero(F);")
    for r in range(MR):
        L.append("    FloatVector " + ", ".join(f"c{r}_{v} = z" for v in range(NV)) + ";")
    L.append("    FloatVector av;")
    NR=NV*16
    if mode in ('seg',):
        L.append(f"    long ak = aOff, bk = bOff, bEnd = bOff + (long) k * {NR*4};")
        L.append(f"    for (; bk < bEnd; bk += {NR*4}, ak += 4) {{")
    elif mode=='segc':
        L.append(f"    for (int kk = 0; kk < k; kk++) {{")
        L.append(f"      long bk = bOff + (long) kk * {NR*4}; long ak = aOff + kk * 4L;")
    elif mode=='packA':
        L.append(f"    for (int kk = 0; kk < k; kk++) {{")
        L.append(f"      long bk = bOff + (long) kk * {NR*4}; long ak = aOff + kk * {MR*4}L;")
    elif mode=='segi':
        L.append(f"    int ldaI = (int) (lda / 4); int a0 = (int) (aOff / 4);")
        L.append(f"    for (int kk = 0; kk < k; kk++) {{")
        L.append(f"      long bk = bOff + (long) kk * {NR*4}; int ak = a0 + kk;")
    elif mode=='arr':
        L.append(f"    for (int kk = 0; kk < k; kk++) {{")
        L.append(f"      long bk = bOff + (long) kk * {NR*4}; int ak = aOff + kk;")
    for v in range(NV):
        L.append(f"      FloatVector b{v} = FloatVector.fromMemorySegment(F, b, bk + {v*64}L, NATIVE);")
    for r in range(MR):
        if mode in ('seg','segc'):
            L.append(f"      av = FloatVector.broadcast(F, a.get(JAVA_FLOAT_UNALIGNED, ak + {r} * lda));")
        elif mode=='packA':
            L.append(f"      av = FloatVector.broadcast(F, a.get(JAVA_FLOAT_UNALIGNED, ak + {r*4}));")
        elif mode=='segi':
            L.append(f"      av = FloatVector.broadcast(F, a.getAtIndex(JAVA_FLOAT, ak + {r} * ldaI));")
        else:
            L.append(f"      av = FloatVector.broadcast(F, a[ak + {r} * lda]);")
        for v in range(NV):
            L.append(f"      c{r}_{v} = av.fma(b{v}, c{r}_{v});")
    L.append("    }")
    for r in range(MR):
        for v in range(NV):
            L.append(f"    c{r}_{v}.intoMemorySegment(c, cOff + {r} * ldc + {v*64}L, NATIVE);")
    L.append("  }")
    return "\n".join(L)

specs = [("k4x4seg",4,4,"seg"),("k5x4seg",5,4,"seg"),("k4x3seg",4,3,"seg"),("k8x2seg",8,2,"seg"),("k8x2segc",8,2,'segc'),("k12x2segc",12,2,'segc'),("k14x2segc",14,2,'segc'),
         ("k8x2packA",8,2,'packA'),("k12x2packA",12,2,'packA'),("k14x2packA",14,2,'packA'),
         ("k6x4packA",6,4,'packA'),("k8x3packA",8,3,'packA'),("k8x2arr",8,2,'arr'),("k12x2arr",12,2,'arr'),("k14x2arr",14,2,'arr'),("k6x4arr",6,4,'arr'),("k8x3arr",8,3,'arr'),("k8x2segi",8,2,'segi'),("k6x4segi",6,4,'segi'),("k6x4seg",6,4,'seg')]
out = ["import jdk.incubator.vector.*;","import java.lang.foreign.*;","import java.nio.ByteOrder;",
"import static java.lang.foreign.ValueLayout.*;",
"public class MK {","  static final VectorSpecies<Float> F = FloatVector.SPECIES_512; static final ByteOrder NATIVE = ByteOrder.nativeOrder();"]
for s in specs: out.append(kernel(*s))
# driver: M=MRpadded rows, K, N; B packed into panels of NR, full K per panel (no K blocking) or K-blocked
drv = []
drv.append("""
  interface K { void run(int r, int panel, long kOff, int kc); }
  static int WARM = 300;
  static final boolean HUGE = Boolean.getBoolean("huge");
  static java.lang.invoke.MethodHandle MADV;
  static MemorySegment alloc(Arena ar, long bytes) {
    if (!HUGE) return ar.allocate(bytes, 64);
    long sz = (bytes + (2 << 20) - 1) / (2 << 20) * (2 << 20);
    MemorySegment s = ar.allocate(sz, 2 << 20);
    try {
      if (MADV == null) MADV = Linker.nativeLinker().downcallHandle(Linker.nativeLinker().defaultLookup().find("madvise").get(), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
      int rc = (int) MADV.invokeExact(s, sz, 14);
      if (rc != 0) System.out.println("madvise " + rc);
    } catch (Throwable t) { throw new RuntimeException(t); }
    s.fill((byte) 0);
    return s;
  }
  static double bench(String name, int MR, int NR, int M, int K, int N, int KC, boolean packA, boolean arr) {
    Arena ar = Arena.ofAuto();
    int Mp = (M + MR - 1) / MR * MR; int panels = N / NR;
    MemorySegment A = alloc(ar, (long) Mp * K * 4), B = alloc(ar, (long) K * N * 4), C = alloc(ar, (long) Mp * N * 4);
    float[] Aa = new float[Mp * K];
    for (long i = 0; i < (long) Mp * K; i++) { A.setAtIndex(JAVA_FLOAT, i, (i % 7) * 0.1f); Aa[(int) i] = (i % 7) * 0.1f; }
    for (long i = 0; i < (long) K * N; i++) B.setAtIndex(JAVA_FLOAT, i, (i % 5) * 0.1f);
    // B layout: panel-major, within a panel K-block-major? full K: panel p at p*K*NR, row k at k*NR
    int chunk = 64;
    Runnable job = () -> {
      for (int kb = 0; kb < K; kb += KC) {
        int kc = Math.min(KC, K - kb);
        for (int p = 0; p < panels; p++) {
          long bOff = ((long) p * K + kb) * NR * 4;
          for (int r = 0; r < Mp; r += MR) {
            long cOff = ((long) r * N + (long) p * NR) * 4;
            long aOff = packA ? ((long) r * K + (long) kb * MR) * 4 : ((long) r * K + kb) * 4;
            call(name, A, Aa, aOff, (long) K * 4, B, bOff, kc, C, cOff, (long) N * 4, r * K + kb, K);
          }
        }
      }
    };
    long flops = 2L * M * K * N;
    for (int i = 0; i < WARM; i++) job.run();
    double best = 0;
    for (int rep = 0; rep < 2; rep++) {
      long t0 = System.nanoTime(); int n = 0;
      while (System.nanoTime() - t0 < 100_000_000L) { job.run(); n++; }
      double g = flops * (double) n / (System.nanoTime() - t0);
      best = Math.max(best, g);
    }
    return best;
  }
  static void call(String name, MemorySegment A, float[] Aa, long aOff, long lda, MemorySegment B, long bOff, int k, MemorySegment C, long cOff, long ldc, int aIdx, int ldaI) {
    switch (name) {""")
for s in specs:
    n=s[0]
    if s[3]=='arr':
        drv.append(f'      case "{n}" -> {n}(Aa, aIdx, ldaI, B, bOff, k, C, cOff, ldc);')
    else:
        drv.append(f'      case "{n}" -> {n}(A, aOff, lda, B, bOff, k, C, cOff, ldc);')
drv.append("""      default -> throw new IllegalArgumentException(name);
    }
  }
  static int REPS = Integer.getInteger("reps", 5);
  public static void main(String[] args) {
    int M = 197;
    int[][] shapes = System.getProperty("big") != null ? new int[][]{{3072,768}} : new int[][]{{768,768},{768,3072},{3072,768}};
    for (String spec : args) {
      String[] p = spec.split(":");
      String name = p[0]; int KC = p.length > 1 ? Integer.parseInt(p[1]) : 1 << 30;
      String[] d = name.substring(1, name.indexOf('x') + 2).split("x");
      int MR = Integer.parseInt(d[0]); int NR = Integer.parseInt(d[1]) * 16;
      StringBuilder sb = new StringBuilder(String.format("%-14s KC=%-6s", name, KC > 100000 ? "all" : KC));
      for (int[] s : shapes) { sb.append(String.format("  %dx%d:", s[0], s[1])); for (int rep = 0; rep < REPS; rep++) sb.append(String.format(" %.0f", bench(name, MR, NR, M, s[0], s[1], Math.min(KC, s[0]), name.contains("packA"), name.contains("arr")))); }
      System.out.println(sb);
    }
  }
}""")
out += drv
open("MK.java","w").write("\n".join(out))
