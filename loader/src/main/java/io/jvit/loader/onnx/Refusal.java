package io.jvit.loader.onnx;

/** Thrown while interpreting a node that does not fit a ViT; the importer adds the node's name. */
final class Refusal extends RuntimeException {
    final boolean formatError;

    Refusal(String why) {
        this(why, false);
    }

    Refusal(String why, boolean formatError) {
        super(why, null, false, false);
        this.formatError = formatError;
    }
}
